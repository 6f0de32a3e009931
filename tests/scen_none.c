/* tests/scen_none.c: a shared object without scenarios (no
 * ac_scenario_table_v1), for acsim --load's error (tests/scenario.test). */
int scen_none_answer(void);
int scen_none_answer(void)
{
	return 42;
}
