"""Object storage for the evidence: recordings and audit files in an S3-compatible bucket.

Switched on by ``[storage] s3 = {...}`` in ``relay.toml``
(:mod:`relay.storage.config`). Files are still written on the relay's disk
first, as without it; the bucket gets each one at its signed checkpoints and
at its seal, so that when the relay's machine is gone the verified prefix of
every recording is still there, and any relay can serve any recording to
reviewers. ``docs/recording.md`` ("In object storage") describes the keys.

One concept per module:

* :mod:`relay.storage.config`: the ``[storage]`` table (pure);
* :mod:`relay.storage.layout`: keys, segments, and the plan of each upload
  (pure: what a crash leaves is decided here);
* :mod:`relay.storage.bucket`: the S3 requests, over boto3 (blocking);
* :mod:`relay.storage.uploader`: worker threads that upload what the writers
  report, and the lag and health the relay fails closed on;
* :mod:`relay.storage.reader`: reading a file back (``warroom verify s3://``)
  and the local copies the archive serves reviewers from;
* :mod:`relay.storage.service`: :class:`ObjectStorage`, the three together
  as the relay holds them.

Importing the package costs nothing: boto3 is imported by the modules that
make requests, which the relay loads only when ``[storage]`` is configured.

May import the standard library, boto3, the core and (in
:mod:`relay.storage.service` only) :mod:`relay.evidence.chain`. The writers
(:mod:`relay.evidence.recording`, :mod:`relay.evidence.audit`) and the relay
(:mod:`relay.net.server`, :mod:`relay.net.archive`) call it, not the reverse: the
writers know their replica only as a ``checkpoint(size, sealed)`` method.
"""

from __future__ import annotations
