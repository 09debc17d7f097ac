"""Reader of CTranslate2 ``model.bin`` files (the faster-whisper layout), format version 6.

The file is a flat list of named variables (rank, dims, dtype, raw little-endian bytes) followed by
aliases (one name standing for another, e.g. a tied output projection). Rank-0 variables are
configuration flags (``encoder/num_heads``), not weights. The tensors are memory-mapped, not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from auricle.errors import CheckpointError

#: CTranslate2's DataType enum, in file order.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
SUPPORTED_VERSION = 6


@dataclass
class Ct2Model:
    """The variables of one ``model.bin``: weights, scalar flags and aliases."""

    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]

    def scalar(self, name: str) -> int:
        """A rank-0 configuration variable as an int (e.g. ``encoder/num_heads``)."""
        if name not in self.variables or self.variables[name].dim() != 0:
            raise CheckpointError(f"CTranslate2 model has no scalar {name!r}; is it a {self.spec} file?")
        return int(self.variables[name])


class _Cursor:
    def __init__(self, buf: np.ndarray, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def unpack(self, fmt: str) -> tuple:
        """Little-endian ``struct`` values at the cursor; a short file is a CheckpointError."""
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.buf):
            raise CheckpointError(
                f"{self.path} is truncated at byte {self.pos}; download or reassemble it again"
            )
        out = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return out

    def string(self) -> str:
        """A uint16-length-prefixed, NUL-terminated UTF-8 name."""
        (n,) = self.unpack("H")
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.rstrip(b"\0").decode("utf-8")


def read_ct2(path: str | Path) -> Ct2Model:
    """Memory-map ``model.bin`` and return its variables as CPU tensors (in their stored dtype)."""
    path = Path(path)
    buf = np.memmap(path, dtype=np.uint8, mode="c")  # copy-on-write: tensors are writable, file untouched
    cur = _Cursor(buf, path)
    (version,) = cur.unpack("I")
    if version != SUPPORTED_VERSION:
        raise CheckpointError(
            f"{path}: CTranslate2 format version {version} is not supported (only {SUPPORTED_VERSION}); "
            "re-convert the model with a current ct2-transformers-converter"
        )
    spec = cur.string()
    (revision,) = cur.unpack("I")
    (count,) = cur.unpack("I")
    variables: dict[str, torch.Tensor] = {}
    for _ in range(count):
        name = cur.string()
        (rank,) = cur.unpack("B")
        dims = cur.unpack(f"{rank}I") if rank else ()
        (code,) = cur.unpack("B")
        (nbytes,) = cur.unpack("I")
        if code not in _DTYPES:
            raise CheckpointError(f"{path}: variable {name!r} has unknown dtype code {code}")
        if cur.pos + nbytes > len(buf):
            raise CheckpointError(f"{path} is truncated inside {name!r}; download or reassemble it again")
        raw = buf[cur.pos : cur.pos + nbytes]
        cur.pos += nbytes
        if _DTYPES[code] == "bfloat16":
            t = torch.from_numpy(raw.view(np.int16)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(raw.view(_DTYPES[code]))
        if t.numel() != int(np.prod(dims, dtype=np.int64)):
            raise CheckpointError(
                f"{path}: variable {name!r} holds {t.numel()} values, dims say {list(dims)}"
            )
        variables[name] = t.reshape(dims)
    aliases = {}
    if cur.pos < len(buf):
        (n_alias,) = cur.unpack("I")
        for _ in range(n_alias):
            alias = cur.string()
            aliases[alias] = cur.string()
    return Ct2Model(spec, revision, variables, aliases)
