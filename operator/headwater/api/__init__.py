"""The four resources of headwater.dev/v1alpha1 as pydantic models: the single source
of truth for the CRDs, the validator, the engine and both executors."""

from headwater.api.base import API_VERSION, GROUP, VERSION, ApiModel, now
from headwater.api.conditions import (
    Condition,
    ConditionStatus,
    find_condition,
    is_true,
    set_condition,
)
from headwater.api.dataflow import Dataflow, DataflowNode, DataflowSpec, DataflowStatus
from headwater.api.dataset import DataFormat, Dataset, DatasetSource, DatasetSpec, DatasetStatus
from headwater.api.function import (
    AS_APPLIED,
    Function,
    FunctionCode,
    FunctionSpec,
    FunctionStatus,
    FunctionType,
    Param,
    ParamType,
)
from headwater.api.meta import EnvVar, KeyRef, ObjectMeta, ResourceRequirements
from headwater.api.run import (
    Binding,
    NodeCounts,
    NodePhase,
    NodeStatus,
    Run,
    RunPhase,
    RunSpec,
    RunStatus,
)

RESOURCE_KINDS = {"Dataset": Dataset, "Function": Function, "Dataflow": Dataflow, "Run": Run}

__all__ = [
    "API_VERSION",
    "AS_APPLIED",
    "GROUP",
    "RESOURCE_KINDS",
    "VERSION",
    "ApiModel",
    "Binding",
    "Condition",
    "ConditionStatus",
    "DataFormat",
    "Dataflow",
    "DataflowNode",
    "DataflowSpec",
    "DataflowStatus",
    "Dataset",
    "DatasetSource",
    "DatasetSpec",
    "DatasetStatus",
    "EnvVar",
    "Function",
    "FunctionCode",
    "FunctionSpec",
    "FunctionStatus",
    "FunctionType",
    "KeyRef",
    "NodeCounts",
    "NodePhase",
    "NodeStatus",
    "ObjectMeta",
    "Param",
    "ParamType",
    "ResourceRequirements",
    "Run",
    "RunPhase",
    "RunSpec",
    "RunStatus",
    "find_condition",
    "is_true",
    "now",
    "set_condition",
]
