"""One request to one reply, from a user shard, with no I/O.

A request is answered in two steps, each after one read of the store for the whole batch:
:func:`rank` asks the user shard's live model (the one that learns from the user's events, DESIGN
decision 2) for more candidates than asked, without what the user must never see; :func:`finish`
applies the business rules with the candidates' catalogue facts and cuts to ``k``.

The model is asked at the shard's clock, the time of the latest event it learned: live, that is
now; in a replay of 2011 it is 2011, so weather, trending and recency are those of the replayed
moment, not of the day the replay runs.

What the reply shows is logged (its impression) at a later time: that of the latest event the
shard has *read*, learned or not. A shard learns in event time and holds an event back until the
impressions topic is read past it (stream/learning/merge.py). Logged at the learned clock, the
impressions never passed an event held for them: the event waited until the topic was read to
its very end, which a stream of requests leaves to chance, and at 100 requests/s clicks waited
0.4 to 10 s to be learned. At the time read, the next impression passes every event read before
the request, which is also every event the list shown can have led to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from models.base import Context, Scored
from stream.contracts.serving import (
    ErrorCode,
    RecommendationReply,
    RecommendationRequest,
    ReplyError,
    ReplyItem,
)
from stream.learning.interactions import InteractionBuilder, Weather
from stream.learning.user_shard import UserShard
from stream.serving.rules import Facts, Rules, apply, banned

# Candidates asked of the model beyond k: room for what stock and the category cap remove.
EXTRA_CANDIDATES = 20


@dataclass
class UserFacts:
    """What the store knows of a user now: purchases, and the profile's location."""

    purchased: set[str] = field(default_factory=set)
    location: str | None = None


@dataclass
class Ranked:
    """A request between the two reads: its context and candidates, or why it has none."""

    request: RecommendationRequest
    context: Context | None = None
    candidates: list[Scored] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    error: ReplyError | None = None
    model_version: str | None = None
    shown_at: float | None = None  # the event time its impression is logged at


def rank(request: RecommendationRequest, shard: UserShard | None, user: UserFacts,
         weather: dict[str, Weather], builder: InteractionBuilder, rules: Rules,
         now_s: float, candidates: int = 100) -> Ranked:
    """The best candidates of one request, none of them banned for this user: ``candidates``
    scored, the best k and ``EXTRA_CANDIDATES`` kept (all with a category cap), best first."""
    if shard is None:
        return Ranked(request, error=ReplyError(
            code=ErrorCode.UNAVAILABLE,
            message="this worker does not hold the user's partition now (it is moving): "
                    "ask again"))
    ts = shard.clock if math.isfinite(shard.clock) else now_s
    location = builder.location_of(request.user_id, request.context.location or user.location)
    # The series the learner read gives the weather of the shard's moment; else the latest.
    report = builder.weather_at(location, ts) or weather.get(location or "")
    context = Context(ts=ts, location=location,
                      condition=report.condition if report else None,
                      temp_c=report.temp_c if report else None,
                      device=request.context.device.value if request.context.device else None)
    never = banned(set(request.exclude), Facts(purchased=user.purchased), rules)
    # k and room for what stock removes; with a category cap, every candidate may be needed.
    kept = request.k + EXTRA_CANDIDATES if not rules.max_per_category else candidates
    ranked = shard.model.recommend(request.user_id, kept, context, exclude=never,
                                   candidates=candidates)
    degraded = [] if request.user_id in shard.seen else ["no_history"]
    if context.condition is None:
        degraded.append("no_weather")
    return Ranked(request, context, ranked, degraded,
                  model_version=f"shard-{shard.partition}@{shard.learned}",
                  shown_at=max(ts, shard.read_to))


def finish(ranked: Ranked, catalogue: Facts, rules: Rules) -> RecommendationReply:
    """The reply: the candidates through every business rule, the best k."""
    request = ranked.request
    if ranked.error is not None:
        return RecommendationReply(request_id=request.request_id, error=ranked.error)
    items = apply(ranked.candidates, request.k, excluded=set(request.exclude),
                  facts=catalogue, rules=rules)
    return RecommendationReply(
        request_id=request.request_id,
        items=[ReplyItem(item_id=s.item_id, score=s.score, source=s.source) for s in items],
        model_versions={"online": ranked.model_version or ""},
        degraded=ranked.degraded)
