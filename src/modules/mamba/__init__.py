"""The MAMBA networks: a weight-shared per-agent DreamerV2 world model whose agents communicate
through a transformer before each recurrent step, a decentralised actor on each agent's latent
features and a centralised critic with attention over the agents."""
