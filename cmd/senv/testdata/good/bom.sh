#!/bin/bash
#ENV pip numpy
echo hi
