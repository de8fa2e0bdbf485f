"""Answering recommendation requests from the user shards this worker holds.

``rules`` (the business rules) and ``answer`` (one request to one reply) are pure; ``server`` is
the async shell that reads the facts a batch of requests needs and sends the replies.
"""
