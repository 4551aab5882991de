"""Trust: who someone is, and what the relay signs with.

Relay-signed tokens, invites and join URLs, SSH-key challenges
(:mod:`relay.trust.identity`, pure: time is passed in), the relay's ed25519
signing key on disk (:mod:`relay.trust.keys`), and the throwaway certificate
authority of ``warroom demo --tls`` (:mod:`relay.trust.certificates`).

May import the core (:mod:`relay.core`), never the network, evidence or UI.
"""
