"""The swarm mode: the docker mode's stack on a two-node Docker Swarm (docker stack deploy)."""
