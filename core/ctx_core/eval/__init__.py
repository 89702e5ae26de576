"""The evaluation harness: data loaders, metrics, rerank methods and the runner."""
