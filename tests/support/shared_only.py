"""A lockstep model that declares no halo (its partitions read the whole state in shared memory): ising's kernels
under another name, for the refusal of the MPI executor."""
import dataclasses

from simcore.models.ising import MODEL as ISING

MODEL = dataclasses.replace(ISING, name="shared-only", halo=None)
