#!/bin/bash
#ENV setenv OMP_NUM_THREADS=8 'CMD_SUBST=$(touch pwned)' "BACKTICKS=`touch pwned`"
#ENV setenv "SINGLE=it's" 'DOUBLE="quoted"' 'SEMI=a; touch pwned' 'SPACES=a  b' 'STAR=*'
#ENV setenv EMPTY= 'PATH_LIKE=/opt/x/bin:$PATH' EQUALS=a=b _under=x
env
