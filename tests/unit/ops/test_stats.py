"""`recstream stats` tells an operator how far each shard's learning trails the shop, and what
the request path answered."""

from __future__ import annotations

from stream.ops.stats import fleet_stats, format_stats

NOW = 1_764_000_000.0
ENDS = {("clicks", 0): 5, ("clicks", 1): 0}  # every record read


class Reader:
    """The state as the workers left it: shard 0 learned up to 4 s ago, shard 1 nothing yet."""

    def stats(self) -> dict[str, int]:
        return {"clicks": 7, "requests": 12, "request_errors": 2}

    def learning(self, shard: int) -> dict[str, str]:
        return ({"learned": "7", "learned_to": str(NOW - 4.0), "offsets": '{"clicks": 5}'}
                if shard == 0 else {})

    def item_learning(self, shard: int) -> dict[str, str]:
        return {}

    def dead_letter_reasons(self) -> dict[str, int]:
        return {}


def test_each_shard_says_up_to_when_it_learned_and_how_far_that_is_behind_now():
    report = fleet_stats(Reader(), 2, now=NOW, ends=ENDS,  # type: ignore[arg-type]
                         user_keyed=("clicks",))
    learned, idle = report["shards"]
    assert learned["learned_to"] == "2025-11-24T15:59:56+00:00" and learned["behind_s"] == 4.0
    assert idle["learned_to"] is None and idle["behind_s"] is None
    table = format_stats(report).splitlines()
    assert table[-2].endswith("2025-11-24T15:59:56+00:00 (4.0 s)") and table[-1].endswith("-")


def test_requests_answered_and_error_replies_are_reported():
    report = fleet_stats(Reader(), 1, now=NOW)  # type: ignore[arg-type]
    assert report["requests"] == {"answered": 12, "errors": 2}
    assert "requests: 12 answered, 2 with an error reply" in format_stats(report)


def test_a_replays_lag_reads_in_years_not_seconds():
    report = fleet_stats(Reader(), 1, now=NOW + 15 * 365.25 * 86400,  # type: ignore[arg-type]
                         ends=ENDS, user_keyed=("clicks",))
    assert format_stats(report).splitlines()[-1].endswith("(15.0 years)")


def test_each_shard_counts_its_records_not_read_yet_by_the_partitions_ends():
    ends = {("clicks", 0): 9, ("purchases", 0): 2, ("clicks", 1): 3, ("purchases", 1): 0}
    report = fleet_stats(Reader(), 2, now=NOW, ends=ends,  # type: ignore[arg-type]
                         user_keyed=("clicks", "purchases"))
    assert [shard["unread"] for shard in report["shards"]] == [4 + 2, 3]


def test_without_the_brokers_ends_the_unread_records_are_unknown_not_zero():
    report = fleet_stats(Reader(), 1, now=NOW, ends=None)  # type: ignore[arg-type]
    assert report["shards"][0]["unread"] is None
    *_, row, note = format_stats(report).splitlines()
    assert "       ?" in row and note == "(unread ?: Kafka did not say where the partitions end)"
