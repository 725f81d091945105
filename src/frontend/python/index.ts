/** The Python front end (issue 10): detection is shared (../project); this reads the project and builds it. */
export { pythonFrontEnd } from './build.js';
export { chooseEntrypoint, type EntrypointChoice, scriptCommand } from './entrypoint.js';
export { type PythonProject, poetrySpecifier, readPythonProject } from './project.js';
export { normalizeName, type Requirement, type RequirementSet, readRequirements } from './requirements.js';
export { allows, DEFAULT_PYTHON, pythonVersion } from './version.js';
