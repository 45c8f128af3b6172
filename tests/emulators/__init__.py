"""HTTP emulators of remote services (OpenAI, Cohere, ...) for tests over real HTTP."""
