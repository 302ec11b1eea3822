#!/bin/sh
#ENV pip numpy
printf '%s\n' 'latin-1: café, raw: ÿþ, cut: æ—'
