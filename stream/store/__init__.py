"""Redis: clients, key names, the state writer and its scripts, the learner's reads and writes, snapshots."""
