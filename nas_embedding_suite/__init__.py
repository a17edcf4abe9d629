"""Data and loader layer for few-shot hardware latency prediction."""
