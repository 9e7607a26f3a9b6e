"""Every bound the models put on what a user writes, in one place.

The CRDs are generated from the models, so the API server rejects at apply time what
`headwater validate` rejects locally. Each bound is chosen so that one field at its
worst still fits, with room to spare, in the object that carries it: a custom resource
(etcd stores at most ~1.5 MiB), a Run's snapshot ConfigMap (1 MiB) or a node's Pod.
Counts follow what a real dataflow needs, with a wide margin. README "Limits" lists them.
"""

NAME_LENGTH = 253
"""A Kubernetes object name (DNS subdomain): Dataflow, Function, Dataset, ConfigMap, Secret."""
RUN_NAME_LENGTH = 63
"""A Run's name labels its Jobs, and label values stop at 63 characters."""
DATA_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"
"""Outputs, wired inputs and Run parameter keys. An output name becomes a directory of
the artifact store, beside its `.headwater/` bookkeeping: no `/`, no `.` at all (so never
`.`, `..` or a hidden name), and `.` stays free for a future `node.param` binding."""
DATA_NAME_LENGTH = 128
IDENTIFIER_LENGTH = 128
"""A handler's or a parameter's Python name."""
MODULE_LENGTH = 512
KEY_LENGTH = 253
"""A ConfigMap or Secret key, as Kubernetes allows."""
DESCRIPTION_LENGTH = 4096
PARAM_DESCRIPTION_LENGTH = 1024
"""Shorter than a resource's: a Function has up to MAX_PARAMS of them."""
IMAGE_LENGTH = 512
"""An OCI reference: registry, path (≤255), tag (≤128) and a sha256 digest."""
URI_LENGTH = 2048
CODE_LENGTH = 65_536
"""Characters of a Function's code, inline or from a ConfigMap. The snapshot holds the
code: even fully JSON-escaped (6 bytes a character) it is 384 KiB of the 1 MiB. It keeps
a parse under ~2.5 s for the slowest input Python 3.11 knows (f-strings with thousands
of fields parse in quadratic time); larger code belongs in the image (`code.module`)."""
MAX_NODES = 10_000
MAX_PARAMS = 256
"""A Function's params and outputs; a node's inputs and outputs."""
MAX_BINDINGS = 1024
"""A Run's parameters."""
MAX_ENV = 64
ENV_NAME_LENGTH = 256
ENV_VALUE_LENGTH = 4096
"""64 of these are 256 KiB; a node's Pod carries its Function's and its Run's."""
MAX_RESOURCES = 16
"""Resource names in a Function's requests or limits."""
QUANTITY_LENGTH = 64
MAX_SECONDS = 365 * 24 * 3600
"""timeoutSeconds and ttlSecondsAfterFinished: a year. Far larger values overflow date
arithmetic (Python's timedelta, a Job's activeDeadlineSeconds)."""
JSON_DEPTH = 32
"""Free-form JSON (a binding's value, a parameter's default, inline data): lists and
objects nested at most this deep. The API server takes 10,000; Python's parsers and
printers recurse once a level, and nothing real needs more than a few."""
JSON_BYTES = 65_536
"""Free-form JSON, as compact UTF-8: a node's task carries its values in a Pod
annotation, and all of a Pod's annotations share 256 KiB."""
