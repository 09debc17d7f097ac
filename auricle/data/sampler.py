"""Dynamic length bucketing: batches filled up to a padded-token budget, deterministic and resumable.

Each epoch is a pure function of ``(seed, epoch)``:

1. the epoch's examples are drawn (all of them once, or per task by mixture weights);
2. they are shuffled, cut into windows of ``sort_window`` examples, and each window is sorted by
   length so that batches hold examples of similar length (little padding);
3. batches are filled greedily while ``count × longest ≤ batch_tokens`` (and ``count ≤
   max_batch_size``), then the batch order is shuffled.

With ``groups`` (audio packing), step 2 first gathers the drawn examples that share an audio into
*units* of at most ``max_pack`` different examples, each trained as one row whose shared prefix
(the audio) is computed once (:class:`~auricle.data.collate.Collator`); units then take the place
of examples in steps 2 and 3, with the cost ``Σ length − (n − 1) × shared`` of the packed row.

A batch is *global* and planned without regard to the number of processes: with ``world_size`` ranks
each rank takes every ``world_size``-th example (or unit) of it, so the same recipe gives the same
optimisation whatever the number of processes. A rank left without an example (a batch smaller than the world)
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
    unit: int = -1  # keys of one global batch with the same unit ≥ 0 are packed into one row


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
        groups: per example, a key of the audio it shares with others (``None``: never packed);
            examples of one epoch with the same key form units (see the module docstring).
        shared: per example, the tokens it shares with others of its group (the prefix up to the
            end of its audio), for the cost of a packed row.
        max_pack: most examples in one unit.
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
        groups: Sequence[str | None] | None = None,
        shared: Sequence[int] | None = None,
        max_pack: int = 8,
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
        if groups is not None and (
            shared is None or len(groups) != len(lengths) or len(shared) != len(lengths)
        ):
            raise ValueError("groups and shared must both be given, one entry per example")
        if max_pack < 1:
            raise ConfigError(f"data.max_pack must be ≥ 1, got {max_pack}")
        self.groups = list(groups) if groups is not None else None
        self.shared = np.asarray(shared, dtype=np.int64) if shared is not None else None
        self.max_pack = max_pack
        self._plans: dict[int, tuple[tuple[tuple[int, ...], ...], ...]] = {}
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
        """The global batches of ``epoch`` (indices; a unit's examples are adjacent)."""
        return tuple(tuple(i for unit in batch for i in unit) for batch in self.epoch_units(epoch))

    def epoch_units(self, epoch: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
        """The global batches of ``epoch`` as units (one unit per row; costliest first)."""
        if epoch not in self._plans:
            if len(self._plans) >= 2:  # the current epoch and the next are all the stream needs
                self._plans.pop(min(self._plans))
            self._plans[epoch] = self._plan(epoch)
        return self._plans[epoch]

    def _plan(self, epoch: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
        rng = np.random.default_rng([self.seed, epoch])
        indices = self._draw(rng)
        if self.shuffle:
            indices = rng.permutation(indices)
        units = self._units(indices)
        costs = np.array([self._cost(u) for u in units], dtype=np.int64)
        batches: list[tuple[tuple[int, ...], ...]] = []
        for w in range(0, len(units), self.sort_window):
            window = np.arange(w, min(w + self.sort_window, len(units)))
            if self.sort_window > 1:
                window = window[np.argsort(-costs[window], kind="stable")]
            batches += [tuple(units[u] for u in b) for b in self._fill(window, costs)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return tuple(batches)

    def _units(self, indices: np.ndarray) -> list[tuple[int, ...]]:
        """The epoch's examples gathered by shared audio (in order of first appearance)."""
        if self.groups is None:
            return [(int(i),) for i in indices]
        units: list[list[int]] = []
        open_unit: dict[str, int] = {}
        for i in indices.tolist():
            key = self.groups[i]
            u = open_unit.get(key) if key is not None else None
            # a repeat of an example (mixture weights) goes to another row: its own draw, not a twin branch
            if u is None or len(units[u]) >= self.max_pack or i in units[u]:
                units.append([])
                u = len(units) - 1
                if key is not None:
                    open_unit[key] = u
            units[u].append(i)
        return [tuple(u) for u in units]

    def _cost(self, unit: tuple[int, ...]) -> int:
        """Padded tokens of a unit's row: every example's length, the shared prefix counted once."""
        total = int(self.lengths[list(unit)].sum())
        if len(unit) > 1:
            total -= int(self.shared[list(unit)].min()) * (len(unit) - 1)
        return total

    def _fill(self, window: np.ndarray, costs: np.ndarray) -> list[list[int]]:
        out, current, longest = [], [], 0
        for u in window.tolist():
            n = len(current) + 1
            need = n * max(longest, int(costs[u]))
            if current and (n > self.max_batch_size or need > self.batch_tokens):
                out.append(current)
                current, longest = [], 0
            current.append(u)
            longest = max(longest, int(costs[u]))
        if current:
            out.append(current)
        return out

    def __len__(self) -> int:
        """Batches in the current epoch (the stream itself repeats when ``repeat``)."""
        return len(self.epoch_units(self.epoch))

    # ------------------------------------------------------------------------------ iteration
    def shard(self, batch: Sequence[Sequence[int]], epoch: int, number: int) -> list[SampleKey]:
        """This rank's keys of global batch ``number`` (units ``rank, rank + world, ...``).

        ``slot`` is an example's place in the flattened global batch; ``unit`` numbers the packed
        units of the batch (``-1`` for a unit of one example).
        """
        starts = np.cumsum([0] + [len(u) for u in batch]).tolist()
        keys = [
            SampleKey(i, epoch, number, starts[u] + j, unit=u if len(batch[u]) > 1 else -1)
            for u in range(self.rank, len(batch), self.world_size)
            for j, i in enumerate(batch[u])
        ]
        return keys or [SampleKey(batch[0][0], epoch, number, 0, padding=True)]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        epoch, start = self.epoch, self.batch
        while True:
            batches = self.epoch_units(epoch)
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
        if batch + 1 >= len(self.epoch_units(epoch)):
            return {"epoch": epoch + 1, "batch": 0}
        return {"epoch": epoch, "batch": batch + 1}
