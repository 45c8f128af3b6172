"""The gateway's second front door: an Envoy external processor (`envoy.service.ext_proc.v3.ExternalProcessor`).

Envoy sends each request's headers and (BUFFERED) body over gRPC; the processor runs the same ingress, decide
(`route_chat`) and act (`plan_chat`) code as the HTTP proxy and answers with header and body mutations, or with an
immediate response where the gateway would not forward. Needs the `extproc` extra (grpcio, xds-protos); this
package's `__init__` imports nothing so `config.py` (the `ext_proc:` config section) loads without it.
"""
