"""The PICACO optimiser as a LangGraph state machine.

``state`` holds the state and input schemas, ``context`` the run-time settings Studio shows as a
form, ``prompts`` every prompt template, ``nodes`` one function per step, and ``builder`` wires
them into a graph (``build_graph`` and the module-level ``graph`` that ``langgraph.json`` serves).
"""
