"""The multimodal bearing fault classifier of the seed README (seed 001)."""
