package envs

// CurrentPyc is currentPyc, for the tests of package envs_test.
const CurrentPyc = currentPyc
