"""KATCP: the control path MeerKAT deploys in front of jive5ab (katsdpvlbi), and the harness's side of it.

- ``contract``: the recorder contract as plain values (capture block ids, the product layout, what a
  finished product must look like); no sockets.
- ``sensors``: the sensor names and values both sides agree on.
- ``proxy`` / ``proxy_cli``: ``vdif-katcp-proxy``, an aiokatcp ``DeviceServer`` in front of any VSI-S recorder.
- ``link``: a blocking KATCP client (aiokatcp in a thread of its own) with typed failures.
- ``recorder`` / ``judge``: the ``katcp`` recorder backend, and how its replies and sensors are judged
  against what is on disk and what the recorder itself says.
"""
