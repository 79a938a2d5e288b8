"""The split-federated MoCo system: server, clients, wire, sync, trainer, evaluation."""
