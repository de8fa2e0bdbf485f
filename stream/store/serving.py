"""The serving side of Redis: what a batch of requests needs to know, in two round trips.

Before ranking: each user's purchases and profile location, and the latest weather of each
location asked about. After ranking: the candidates' stock and category. Each is one pipeline
or script call for the whole batch (DESIGN decision 9: no per-request round trips).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from redis.asyncio import Redis

from stream.contracts.schemas import DeadLetter, reason_kind
from stream.learning.interactions import Weather
from stream.serving.answer import UserFacts
from stream.serving.rules import Facts
from stream.store.keys import Keys

# Each item's stock and category, as one flat list: one script call for a batch's candidates.
# A pipelined HMGET per item cost redis-py about 25 us to pack and parse; with 500 candidates a
# request and thousands of distinct items a batch, that was a quarter of a serving worker's time
# (py-spy, `recstream bench serve` at 100 requests/s).
_CATALOGUE = """
local values = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HMGET', key, 'in_stock', 'category')
  values[2 * i - 1], values[2 * i] = fields[1], fields[2]
end
return values
"""


class RedisServingStore:
    """Reads for the request path, and its counters, under one key prefix."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._catalogue = client.register_script(_CATALOGUE)

    async def users(self, user_ids: Sequence[str], locations: Sequence[str]
                    ) -> tuple[dict[str, UserFacts], dict[str, Weather]]:
        """Each user's purchases and location (the profile's, else the latest event's), and
        the latest weather at each location."""
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.smembers(keys.purchased(user_id))
            pipe.hget(keys.profile(user_id), "location")
            pipe.hget(keys.user(user_id), "location")
        for location in locations:
            pipe.hmget(keys.weather(location), "condition", "temp_c")
        results = await pipe.execute()
        users = {}
        for i, user_id in enumerate(user_ids):
            purchased, profile, latest = results[3 * i:3 * i + 3]
            location = profile or latest
            users[user_id] = UserFacts({item.decode() for item in purchased},
                                       location.decode() if location else None)
        weather = {}
        for location, (condition, temp_c) in zip(locations, results[3 * len(user_ids):],
                                                  strict=True):
            if condition is not None:
                weather[location] = Weather(condition.decode(),
                                            float(temp_c or 0.0))
        return users, weather

    async def catalogue(self, item_ids: Iterable[str]) -> Facts:
        """Which of the items are out of stock, and the category of each that has one."""
        items = sorted(set(item_ids))
        values = await self._catalogue(keys=[self.keys.item_meta(item) for item in items])
        facts = Facts()
        for item_id, in_stock, category in zip(items, values[::2], values[1::2], strict=True):
            if in_stock == b"0":
                facts.out_of_stock.add(item_id)
            if category:
                facts.categories[item_id] = category.decode()
        return facts

    async def count(self, requests: int, errors: int, letters: Sequence[DeadLetter]) -> None:
        """Requests answered, error replies, and dead letters by kind of reason."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.keys.stats, "requests", requests)
        if errors:
            pipe.hincrby(self.keys.stats, "request_errors", errors)
        if letters:
            pipe.hincrby(self.keys.stats, "dead_letters", len(letters))
            for kind, n in Counter(reason_kind(letter.reason) for letter in letters).items():
                pipe.hincrby(self.keys.dead_letter_reasons, kind, n)
        await pipe.execute()
