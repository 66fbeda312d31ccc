"""Search spaces, the Architecture value object, sampling, mutation and encoding."""

from aebnas.space.architecture import Architecture, Block, BranchModule, Exit
from aebnas.space.encoding import ENCODING_VERSION, encode, encode_many, feature_names
from aebnas.space.sampling import crossover, mutate, sample_architecture, sample_architectures
from aebnas.space.spaces import SPACES, BackboneSpec, BranchSpace, SearchSpace, get_space
from aebnas.space.validation import parse_architecture, validate

__all__ = [
    "ENCODING_VERSION",
    "SPACES",
    "Architecture",
    "BackboneSpec",
    "Block",
    "BranchModule",
    "BranchSpace",
    "Exit",
    "SearchSpace",
    "crossover",
    "encode",
    "encode_many",
    "feature_names",
    "get_space",
    "mutate",
    "parse_architecture",
    "sample_architecture",
    "sample_architectures",
    "validate",
]
