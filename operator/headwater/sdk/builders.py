"""Building the resources from Python: Functions from callables or a .py file, Dataflows
of Nodes, bindings, and the YAML of it all. These are the models of `headwater.api`
(subclasses with friendlier constructors), so everything validates as a manifest does
and `to_yaml` writes what `kubectl apply` and `headwater run` read unchanged."""

import ast
import base64
import importlib.util
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from pydantic import BaseModel, PrivateAttr

from headwater import api
from headwater.api import Binding, DataflowNode, FunctionType, ParamType
from headwater.kubeyaml import dump_all
from headwater.limits import CODE_LENGTH, DESCRIPTION_LENGTH
from headwater.sdk.callables import UnportableFunction, declare, standalone_source
from headwater.suggest import did_you_mean

Manifest = dict[str, Any]
ParamTypes = Mapping[str, str | ParamType]


@dataclass(frozen=True)
class CodeFile:
    """A .py file that travels as a ConfigMap key, so that every def in it is there."""

    config_map: str
    key: str
    text: str

    def manifest(self) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.config_map},
            "data": {self.key: self.text},
        }


def resource_name(python_name: str) -> str:
    """`load_model` → `load-model`: a Python name as a Kubernetes object name."""
    name = re.sub(r"[^a-z0-9.-]+", "-", python_name.lower()).strip("-.")
    return name or "function"


class Function(api.Function):
    """A Function resource; `from_callable` and `from_file` build one from Python code.

    Calling it calls the Python function it was made from, so it can be tried on
    small data in the notebook first."""

    _code_file: CodeFile | None = PrivateAttr(default=None)
    _callable: Callable[..., Any] | None = PrivateAttr(default=None)

    @classmethod
    def from_callable(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        outputs: str | Sequence[str] | None = None,
        type: str | FunctionType | None = None,
        params: ParamTypes | None = None,
    ) -> "Function":
        """The function's own source (plus the imports its free names need) as inline
        code; params from its signature and hints, outputs from `outputs=`, its return
        annotation or the names it returns. `params` overrides types by name
        (`{"model_path": "path"}`). Raises UnportableFunction when it uses a global that
        would not exist in the node."""
        code, definition = standalone_source(fn)
        built = cls._declared(fn, name, outputs, type, params, definition, {"inline": code})
        built._callable = fn
        return built

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        handler: str,
        name: str | None = None,
        outputs: str | Sequence[str] | None = None,
        type: str | FunctionType | None = None,
        params: ParamTypes | None = None,
        config_map: str | None = None,
    ) -> "Function":
        """`handler` of the .py file at `path`, with the whole file as its code: a
        ConfigMap key (ConfigMap `config_map`, by default named after the file), so
        helpers and constants of the file are there. The file is imported here to read
        the signature and hints."""
        file = Path(path)
        module, tree = _import_file(file)
        definitions = _top_level_defs(tree)
        if handler not in definitions:
            raise UnportableFunction(
                f"{file} defines no top-level function {handler!r}"
                + did_you_mean(handler, definitions)
            )
        return cls._from_module(
            file, module, definitions[handler], name, outputs, type, params, config_map
        )

    @classmethod
    def _from_module(
        cls,
        file: Path,
        module: Any,
        definition: ast.FunctionDef | ast.AsyncFunctionDef,
        name: str | None,
        outputs: str | Sequence[str] | None,
        type: str | FunctionType | None,
        params: ParamTypes | None,
        config_map: str | None,
    ) -> "Function":
        code = CodeFile(config_map or resource_name(file.name), file.name, file.read_text())
        ref = {"configMapKeyRef": {"name": code.config_map, "key": code.key}}
        fn = getattr(module, definition.name)
        if isinstance(fn, Function) and fn._callable is not None:
            # Decorated with @headwater.function: its name, outputs and type stand.
            name = name or fn.metadata.name
            outputs = outputs if outputs is not None else fn.spec.outputs
            type = type or fn.spec.type
            fn = fn._callable
        built = cls._declared(fn, name, outputs, type, params, definition, ref)
        built._code_file = code
        built._callable = fn
        return built

    @classmethod
    def _declared(
        cls,
        fn: Callable[..., Any],
        name: str | None,
        outputs: str | Sequence[str] | None,
        kind: str | FunctionType | None,
        params: ParamTypes | None,
        definition: ast.FunctionDef | ast.AsyncFunctionDef,
        code: Manifest,
    ) -> "Function":
        declared = declare(fn, outputs, params, definition)
        chosen = FunctionType(kind) if kind else None
        if chosen is None:
            chosen = FunctionType.TRANSFORMER if declared.outputs else FunctionType.SINK
        description = declared.description
        return cls(
            metadata=api.ObjectMeta(name=name or resource_name(declared.handler)),
            spec=api.FunctionSpec(
                handler=declared.handler,
                description=description[:DESCRIPTION_LENGTH] if description else None,
                type=chosen,
                code=api.FunctionCode.model_validate(code),
                params=declared.params,
                outputs=declared.outputs,
            ),
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._callable is None:
            raise TypeError(f"Function {self.metadata.name} was not made from a Python function")
        return self._callable(*args, **kwargs)

    @property
    def code_file(self) -> CodeFile | None:
        """The file whose code travels as a ConfigMap key (from_file), if any."""
        return self._code_file

    def to_yaml(self) -> str:
        return to_yaml(self)


def _import_file(file: Path) -> tuple[Any, ast.Module]:
    """The file as a fresh module, to read live signatures and hints, and its syntax
    tree. Its own folder comes first on sys.path while it loads, as for a script."""
    text = file.read_text()
    if len(text) > CODE_LENGTH:
        raise UnportableFunction(
            f"{file} has {len(text)} characters; a Function's code holds at most"
            f" {CODE_LENGTH} (put larger code in the image and name it in code.module)"
        )
    tree = ast.parse(text, filename=str(file))
    module_name = f"headwater_file_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up
    sys.path.insert(0, str(file.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise UnportableFunction(
            f"cannot import {file} to read its signatures: {type(error).__name__}: {error}"
        ) from error
    finally:
        sys.path.remove(str(file.resolve().parent))
    return module, tree


def _top_level_defs(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


class Functions(list[Function]):
    """The Functions of one file, in the file's order; `fns["predict"]` finds one by its
    handler or resource name."""

    @overload
    def __getitem__(self, key: int) -> Function: ...
    @overload
    def __getitem__(self, key: slice) -> list[Function]: ...
    @overload
    def __getitem__(self, key: str) -> Function: ...

    def __getitem__(self, key: int | slice | str) -> Any:
        if not isinstance(key, str):
            return super().__getitem__(key)
        for function in self:
            if key in (function.spec.handler, function.metadata.name):
                return function
        names = [f.spec.handler for f in self]
        raise KeyError(f"no function {key!r}{did_you_mean(key, names)}")


def functions_from_file(
    path: str | Path, params: ParamTypes | None = None, config_map: str | None = None
) -> Functions:
    """One Function per public top-level def of the file (names not starting with `_`),
    all sharing the file's ConfigMap; `params` overrides parameter types by name."""
    file = Path(path)
    module, tree = _import_file(file)
    found = Functions()
    for handler, definition in _top_level_defs(tree).items():
        if handler.startswith("_"):
            continue
        mine = {k: v for k, v in (params or {}).items() if k in _param_names(definition)}
        found.append(
            Function._from_module(file, module, definition, None, None, None, mine, config_map)
        )
    return found


def _param_names(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    args = definition.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}


def function(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    outputs: str | Sequence[str] | None = None,
    type: str | FunctionType | None = None,
    params: ParamTypes | None = None,
) -> Any:
    """`@headwater.function` or `@headwater.function(name=…, outputs=…, type=…)`: the
    decorated name becomes a Function (still callable as the Python function)."""

    def build(target: Callable[..., Any]) -> Function:
        return Function.from_callable(target, name=name, outputs=outputs, type=type, params=params)

    return build(fn) if fn is not None else build


class Node(DataflowNode):
    """One step of a Dataflow: a Function (or its name), what it reads, what it makes."""

    def __init__(
        self,
        function: api.Function | str,
        inputs: Sequence[str] | Mapping[str, str] = (),
        outputs: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            function=function if isinstance(function, str) else function.metadata.name,
            inputs=dict(inputs) if isinstance(inputs, Mapping) else list(inputs),
            outputs=list(outputs) if outputs is not None else None,
            name=name,
        )


class Dataflow(api.Dataflow):
    """A Dataflow resource: `Dataflow("rionowcast", nodes=[Node(…), …])`."""

    def __init__(
        self,
        name: str,
        nodes: Sequence[DataflowNode],
        description: str | None = None,
        image: str | None = None,
    ) -> None:
        plain = [DataflowNode.model_validate(n.model_dump(by_alias=True)) for n in nodes]
        super().__init__(
            metadata=api.ObjectMeta(name=name),
            spec=api.DataflowSpec(nodes=plain, description=description, image=image),
        )

    def to_yaml(self) -> str:
        return to_yaml(self)


def dataset(name: str) -> Binding:
    """A Run parameter bound to the Dataset `name`."""
    return Binding(dataset=name)


def binding(value: object) -> Binding:
    """A Run parameter's binding: `dataset("radar")` as is, anything else a JSON value."""
    if isinstance(value, Binding):
        return value
    if value is None:
        raise ValueError("a parameter's value cannot be None: null means not given")
    return Binding(value=value)


def manifests(objects: Iterable[object]) -> list[Manifest]:
    """Each object as the documents kubectl applies: a Function made from a file brings
    its ConfigMap first (once, however many Functions share it)."""
    documents: list[Manifest] = []
    code_files: dict[str, CodeFile] = {}
    for obj in objects:
        code = obj.code_file if isinstance(obj, Function) else None
        if code is not None:
            known = code_files.get(code.config_map)
            if known is None:
                code_files[code.config_map] = code
                documents.append(code.manifest())
            elif known != code:
                raise ValueError(
                    f"two different files travel as ConfigMap {code.config_map}: name one"
                    " of them with config_map=…"
                )
        documents.append(_manifest(obj))
    return documents


def key_values_manifest(kind: str, name: str, values: dict[str, bytes]) -> Manifest:
    """A ConfigMap or Secret as applied: a Secret's data and a ConfigMap's binaryData
    base64, a ConfigMap's UTF-8 values as text."""
    document: Manifest = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    encoded = {key: base64.b64encode(value).decode() for key, value in values.items()}
    if kind == "Secret":
        return document | {"data": encoded}
    text = {key: value.decode() for key, value in values.items() if _utf8(value)}
    binary = {key: encoded[key] for key in values if key not in text}
    return document | ({"data": text} if text else {}) | ({"binaryData": binary} if binary else {})


def _utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _manifest(obj: object) -> Manifest:
    if isinstance(obj, api.ApiModel):
        return _tidy(obj.to_wire())
    if isinstance(obj, BaseModel):
        raise TypeError(f"not a headwater resource: {type(obj).__name__}")
    if isinstance(obj, dict) and "kind" in obj:
        return obj
    raise TypeError(f"not a manifest: {obj!r}")


def _tidy(wire: Manifest) -> Manifest:
    """The manifest a person would write: no status, no empty labels, annotations or
    empty top-level spec fields (each empty one is its field's default)."""
    metadata = {k: v for k, v in wire["metadata"].items() if v not in ({}, [])}
    spec = {k: v for k, v in wire["spec"].items() if v not in ({}, [])}
    kept = {k: v for k, v in wire.items() if k not in ("status", "metadata", "spec")}
    return kept | {"metadata": metadata, "spec": spec}


def to_yaml(*objects: object) -> str:
    """Multi-document YAML of the objects, as `kubectl apply -f` and `headwater run`
    read it: names kubectl would read as booleans (`y`, `n`, `on`) are quoted."""
    return dump_all(manifests(objects))
