"""python -m busflow.predict MODEL_DIR IMAGES... [-o predictions.csv]: see
busflow.predict.cli."""

import sys

from busflow.predict.cli import main

sys.exit(main())
