// Not shipped in the image (tests never are).
const { test } = require('node:test');
test('placeholder', () => {});
