"""What can go wrong moving data in or out of a cluster, each worded for the person at
the terminal: the CLI prints the message and exits 1, the Python API raises it."""


class TransferError(Exception):
    """A transfer that did not happen; str() says why and, where it can, what to do."""


class StoreNotFound(TransferError):
    """No `headwater-store` ConfigMap where the operator should have published one."""


class Forbidden(TransferError):
    """The API server refused a request; the message is its own."""


class TooLarge(TransferError):
    """The file exceeds what the chosen path moves."""


class NotInStore(TransferError):
    """The data is somewhere the namespace's store does not reach."""


class NotFound(TransferError):
    """A Dataset, Run or output that does not exist."""


class TransferFailed(TransferError):
    """A transfer Job failed or could not start, or the bytes did not verify."""
