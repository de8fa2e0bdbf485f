"""What crosses the wire: the event and message contracts (pydantic, JSON) and their codec."""
