"""Ingress: parse and validate a request (JSON body, messages, model), the caller's key and tenant, OpenAI-shaped errors.

Imports no other phase: what it hands on is plain data (`Conversation`, `ChatRequest`)."""
