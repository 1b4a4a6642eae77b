"""What every anchor shares: pinning the BLAS thread count before NumPy or PyTorch loads, and naming the BLAS
library that actually got loaded."""
import os


def pin_threads(threads):
    """BLAS libraries read their thread count once, when loaded: set it before NumPy or PyTorch is imported."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[name] = str(threads)


def loaded_blas():
    """File names of the BLAS/LAPACK libraries mapped into this process (Linux only), to check which one is used."""
    found = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                base = os.path.basename(path)
                if path.startswith("/") and ("blas" in base or "lapack" in base):
                    found.add(path)
    except OSError:
        pass
    return sorted(found)
