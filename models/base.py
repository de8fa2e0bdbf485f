"""The small interface every recstream model implements, and the plain data it learns from.

models/ knows nothing of Kafka, Faust or Redis: the stream package turns contract events into
:class:`Interaction` and :class:`Context` and hands them to models. Models are snapshotted with
pickle (authenticated by the caller), so they hold only picklable state.

>>> i = Interaction(user_id="u1", item_id="i1", ts=0.0, kind="purchase")
>>> i.weight
3.0
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

__all__ = ["KIND_WEIGHTS", "Context", "DerivedState", "Interaction", "ItemInfo", "Origin",
           "Recommender", "Scored", "Scorer"]

# Where the stream found an event: (topic, offset). Opaque to models, which only carry it from an
# interaction to the item steps it causes, so the stream can recognise a replayed one.
Origin = tuple[str, int]

# A purchase says more about taste than a click: it is weighted higher in every learner.
KIND_WEIGHTS: dict[str, float] = {"click": 1.0, "purchase": 3.0}


@dataclass(frozen=True, slots=True)
class Context:
    """Where and when a user is: what the context-aware parts condition on."""

    ts: float  # epoch seconds
    location: str | None = None
    condition: str | None = None  # weather condition at the location (WeatherCondition values)
    temp_c: float | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Interaction:
    """One implicit-feedback event: a user clicked or bought an item."""

    user_id: str
    item_id: str
    ts: float  # epoch seconds
    kind: Literal["click", "purchase"] = "click"
    session_id: str | None = None
    location: str | None = None
    condition: str | None = None
    temp_c: float | None = None
    device: str | None = None
    category: str | None = None
    price: float | None = None
    quantity: int = 1
    origin: Origin | None = None  # where the stream found the event (see Origin)

    @property
    def weight(self) -> float:
        return KIND_WEIGHTS[self.kind]

    @property
    def context(self) -> Context:
        return Context(ts=self.ts, location=self.location, condition=self.condition,
                       temp_c=self.temp_c, device=self.device)


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """Catalogue facts about an item (from ItemUpsert)."""

    item_id: str
    category: str | None = None
    price: float | None = None
    title: str | None = None
    in_stock: bool = True


@dataclass(frozen=True, slots=True)
class Scored:
    """One recommended item; ``source`` names what proposed it (the explanation).

    ``listed_at``: the item's place in the candidate generator's list when a re-ranking step
    reordered it (a ranker's ``log_rank`` input, logged with the impression), else -1.
    """

    item_id: str
    score: float
    source: str = ""
    listed_at: int = field(default=-1, compare=False)


class Scorer(Protocol):
    """Scores a user's candidates in a context: the probability of a click or purchase.

    The re-ranking step of :class:`~models.reranked.ContextReranked` asks one; the River context
    model is the live one, and a deep ranker served with onnxruntime is another. Features come
    from :func:`models.features.features` for both, in training and in serving.
    """

    def score(self, user_id: str, items: Sequence[ItemInfo | str], context: Context
              ) -> np.ndarray:
        """One probability per item, in the order given."""


class DerivedState:
    """A model that keeps state derived from the rest (caches for requests): :meth:`_derive`
    builds it afresh, a snapshot leaves the ``DERIVED`` attributes out (they would only make it
    larger and slower to pickle), and a restored model builds them again."""

    DERIVED: tuple[str, ...] = ()

    def _derive(self) -> None:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in self.DERIVED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._derive()


class Recommender(abc.ABC):
    """Learns online from interactions and ranks items for a user in a context.

    Hyperparameters are constructor arguments stored as given (so repr echoes them); learned
    state lives in other attributes.
    """

    @abc.abstractmethod
    def learn_one(self, interaction: Interaction) -> None:
        """Update from one interaction (after it has been scored: test-then-train)."""

    @abc.abstractmethod
    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        """The top ``k`` items for the user now, best first, none of ``exclude``."""

    # An optional hook, not an abstract method: most models have no use for the catalogue.
    def observe_item(self, info: ItemInfo) -> None:  # noqa: B027
        """Catalogue updates; models that use item features override this."""

    # An optional hook too: models that keep something per user override it.
    def forget_users(self, users: Iterable[str]) -> None:  # noqa: B027
        """Drop everything kept about these users (their owner bounds its memory: the users
        unseen longest go first); a forgotten user is a new user again."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict[str, object]:
        """Constructor arguments as given (subclasses store them under the same names): what a
        composite needs to build its own copy of a part from the configuration it was given."""
        import inspect

        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n != "self" and hasattr(self, n)}

