"""Act: rewrite, plugins, response cache, upstream choice and forwarding of a decided request.

Imports ingress/ and decide/ (what it acts on), never operate/."""
