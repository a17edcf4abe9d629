"""Latency predictors, samplers, pretraining, few-shot transfer and evaluation."""
