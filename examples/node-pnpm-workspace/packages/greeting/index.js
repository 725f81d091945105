// A workspace library the api imports (as a workspace dependency, linked by pnpm).
const ms = require('ms');

exports.greet = (name) => `hello ${name} from a pnpm workspace (a day is ${ms('1d')} ms)\n`;
