# -*- coding: utf-8 -*-
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
