"""Conversations and dynamic routes: chat-history routing, function schemas and argument filling."""
