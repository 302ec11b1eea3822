#!/bin/bash
#ENV	pip	numpy		scipy	
#ENV 	 module 	 gcc/12
#ENV	setenv	'TABBED=a	b'
python -c 'import numpy'
