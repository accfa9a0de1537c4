"""Neural network building blocks: agents, mixers, critics (each with its own registry) and the MAZero model."""
