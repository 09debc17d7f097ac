"""Dynamic length bucketing: batches filled up to a padded-token budget, deterministic and resumable.

Each epoch is a pure function of ``(seed, epoch)``:

1. the epoch's examples are drawn (all of them once, or per task by mixture weights);
2. they are shuffled, cut into windows of ``sort_window`` examples, and each window is sorted by
   length so that batches hold examples of similar length (little padding);
3. batches are filled greedily while ``count × longest ≤ batch_tokens`` (and ``count ≤
   max_batch_size``), then the batch order is shuffled.

A batch is *global* and planned without regard to the number of processes: with ``world_size`` ranks
each rank takes every ``world_size``-th example of it, so the same recipe gives the same optimisation
whatever the number of processes. A rank left without an example (a batch smaller than the world)
gets a copy of the batch's first example marked ``padding``: it runs forward and backward with no
target, so it adds nothing to the loss or the gradients. The position in the stream is
``(epoch, batch)``; :meth:`BucketBatchSampler.load_state_dict` restarts there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auricle.errors import ConfigError


@dataclass(frozen=True)
class SampleKey:
    """What a DataLoader asks the dataset for: an example and where it sits in the stream.

    ``epoch``, ``batch`` and ``slot`` (position in the global batch) seed the augmentation, so an
    example gets the same augmentation whatever worker or rank loads it. ``padding`` marks a stand-in
    that must take no loss (see the module docstring).
    """

    index: int
    epoch: int
    batch: int
    slot: int
    padding: bool = False


def mixture_counts(tasks: Sequence[str], weights: Mapping[str, float], epoch_size: int = 0) -> dict[str, int]:
    """Examples per task in one epoch: ``epoch_size`` split in proportion to the task weights.

    Tasks present in the data but absent from ``weights`` get none; a weighted task with no
    examples is an error. ``epoch_size`` 0 means the number of examples of the weighted tasks.
    """
    present: dict[str, int] = {}
    for t in tasks:
        present[t] = present.get(t, 0) + 1
    for task, w in weights.items():
        if w < 0:
            raise ConfigError(f"data.mixture: weight of {task!r} is negative ({w})")
        if w > 0 and task not in present:
            raise ConfigError(
                f"data.mixture gives task {task!r} weight {w} but the data has no {task!r} examples; "
                f"tasks in the data: {sorted(present)}"
            )
    total_w = sum(w for w in weights.values() if w > 0)
    if total_w <= 0:
        raise ConfigError(f"data.mixture {dict(weights)} has no positive weight")
    size = epoch_size or sum(present[t] for t, w in weights.items() if w > 0)
    counts = {t: int(size * w / total_w) for t, w in weights.items() if w > 0}
    # hand the rounding remainder to the largest fractional parts, in a fixed order
    rest = size - sum(counts.values())
    order = sorted(counts, key=lambda t: (-(size * weights[t] / total_w - counts[t]), t))
    for t in order[:rest]:
        counts[t] += 1
    return counts


class BucketBatchSampler:
    """A batch sampler for ``torch.utils.data.DataLoader`` yielding lists of :class:`SampleKey`.

    Args:
        lengths: cost of each example in padded tokens (its full sequence length).
        tasks: task name of each example (for mixtures).
        batch_tokens: budget of ``count × longest`` per global batch.
        max_batch_size: most examples per global batch.
        seed: makes every epoch reproducible.
        mixture: task → weight; empty means every example once per epoch.
        epoch_size: examples per epoch under a mixture (0: as many as the weighted tasks hold).
        sort_window: examples sorted together; 1 disables length grouping.
        shuffle: False keeps manifest order (validation).
        repeat: False stops after one epoch (validation); True runs forever.
        rank, world_size: this process's share of each global batch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        tasks: Sequence[str],
        *,
        batch_tokens: int,
        max_batch_size: int = 64,
        seed: int = 0,
        mixture: Mapping[str, float] | None = None,
        epoch_size: int = 0,
        sort_window: int = 512,
        shuffle: bool = True,
        repeat: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(lengths) != len(tasks):
            raise ValueError(f"{len(lengths)} lengths but {len(tasks)} tasks")
        if not lengths:
            raise ConfigError("the dataset is empty: no example to batch")
        if batch_tokens <= 0 or max_batch_size <= 0:
            raise ConfigError(
                f"data.batch_tokens ({batch_tokens}) and data.max_batch_size ({max_batch_size}) must be > 0"
            )
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.tasks = list(tasks)
        self.batch_tokens = batch_tokens
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.mixture = dict(mixture or {})
        self.counts = mixture_counts(self.tasks, self.mixture, epoch_size) if self.mixture else None
        self.sort_window = max(1, sort_window)
        self.shuffle = shuffle
        self.repeat = repeat
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.batch = 0
        self._plans: dict[int, tuple[tuple[int, ...], ...]] = {}
        self._by_task: dict[str, np.ndarray] = {}
        for t in sorted(set(self.tasks)):
            self._by_task[t] = np.array([i for i, x in enumerate(self.tasks) if x == t], dtype=np.int64)

    # ------------------------------------------------------------------------------ epoch plan
    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """The example indices of one epoch (unordered)."""
        if self.counts is None:
            return np.arange(len(self.lengths))
        parts = []
        for task, n in sorted(self.counts.items()):
            pool = self._by_task[task]
            full, rest = divmod(n, len(pool))
            parts += [rng.permutation(pool) for _ in range(full)]
            parts.append(rng.choice(pool, size=rest, replace=False))
        return np.concatenate(parts)

    def epoch_batches(self, epoch: int) -> tuple[tuple[int, ...], ...]:
        """The global batches of ``epoch`` (indices sorted longest first within each batch)."""
        if epoch not in self._plans:
            if len(self._plans) >= 2:  # the current epoch and the next are all the stream needs
                self._plans.pop(min(self._plans))
            self._plans[epoch] = self._plan(epoch)
        return self._plans[epoch]

    def _plan(self, epoch: int) -> tuple[tuple[int, ...], ...]:
        rng = np.random.default_rng([self.seed, epoch])
        indices = self._draw(rng)
        if self.shuffle:
            indices = rng.permutation(indices)
        batches: list[tuple[int, ...]] = []
        for w in range(0, len(indices), self.sort_window):
            window = indices[w : w + self.sort_window]
            if self.sort_window > 1:
                window = window[np.argsort(-self.lengths[window], kind="stable")]
            batches += self._fill(window)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return tuple(batches)

    def _fill(self, window: np.ndarray) -> list[tuple[int, ...]]:
        out, current, longest = [], [], 0
        for idx in window.tolist():
            n = len(current) + 1
            need = n * max(longest, int(self.lengths[idx]))
            if current and (n > self.max_batch_size or need > self.batch_tokens):
                out.append(tuple(current))
                current, longest = [], 0
            current.append(idx)
            longest = max(longest, int(self.lengths[idx]))
        if current:
            out.append(tuple(current))
        return out

    def __len__(self) -> int:
        """Batches in the current epoch (the stream itself repeats when ``repeat``)."""
        return len(self.epoch_batches(self.epoch))

    # ------------------------------------------------------------------------------ iteration
    def shard(self, batch: Sequence[int], epoch: int, number: int) -> list[SampleKey]:
        """This rank's keys of global batch ``number`` (slots ``rank, rank + world, ...``)."""
        keys = [SampleKey(batch[s], epoch, number, s) for s in range(self.rank, len(batch), self.world_size)]
        return keys or [SampleKey(batch[0], epoch, number, 0, padding=True)]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        epoch, start = self.epoch, self.batch
        while True:
            batches = self.epoch_batches(epoch)
            for b in range(start, len(batches)):
                yield self.shard(batches[b], epoch, b)
            if not self.repeat:
                return
            epoch, start = epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        """Where the next iterator starts: ``{"epoch", "batch"}``."""
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Start the next iterator at ``state`` (as returned by :meth:`state_dict` or :meth:`position_after`)."""
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])

    def position_after(self, epoch: int, batch: int) -> dict[str, int]:
        """The stream position that follows global batch ``batch`` of ``epoch``."""
        if batch + 1 >= len(self.epoch_batches(epoch)):
            return {"epoch": epoch + 1, "batch": 0}
        return {"epoch": epoch, "batch": batch + 1}
