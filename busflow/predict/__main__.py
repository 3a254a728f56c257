"""python -m busflow.predict MODEL_DIR IMAGES... [-o predictions.csv]: see
busflow.predict.predictions."""

import sys

from busflow.predict.predictions import main

sys.exit(main())
