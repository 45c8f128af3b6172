"""How the library talks to provider SDKs (OpenAI, Cohere, index clients), once for all of them.

`clients`: the lifecycle of SDK clients (one sync client, one async client per event loop).
`failures`: reading an SDK exception, the retry policy, and turning a failure into a clear error.
"""
