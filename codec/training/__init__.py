"""Training, apart from what ``import codec`` loads: ``codec train`` and ``codec export``
of a peer dispatch here.

* :mod:`.flags` the command line and its checks, the learning-rate schedule;
* :mod:`.run_config` what a run is (resume, peer, ``--init-from``, new) from the flags;
* :mod:`.trainer` the step, the validation and the loop; :mod:`.process` device and DDP;
  :mod:`.state` the run folder (checkpoint, snapshots, log);
* :mod:`.data` training crops; :mod:`.grow` function-preserving widening; :mod:`.peer`
  CompressAI's mbt2018-mean as a benchmark peer.
"""
