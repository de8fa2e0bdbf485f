"""The hot path's first half: decode a batch, dead-letter the bad records, apply the good ones to the state."""
