"""Below every app: the log context (request id, integration, record) and the process's
metric instruments. No models and nothing of the product's apps: the sync, the Rally client
and the pages all use them, and ops (metrics, health) reads them from above."""
