#!/bin/bash
#ENV setenv 'SQ=single $HOME `x` "y"' "DQ=double \"quoted\" \$HOME \`x\`"
#ENV setenv BS=a\ b\\c "DQBS=back\\slash" 'SQBS=back\slash'
#ENV setenv MIXED=it"'"s' and '"more"
#ENV pip "numpy" 'scipy'
env
