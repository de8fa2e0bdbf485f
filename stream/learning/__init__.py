"""Online learning: user and item shards, the learner core (pure), its async shell and the checkpoint."""
