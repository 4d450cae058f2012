import { render } from 'preact';
import { App } from './app';
import './styles/base.css';
import './styles/layout.css';
import './styles/tables.css';
import './styles/fleet.css';
import './styles/vm.css';

const root = document.getElementById('app');
if (root) {
  render(<App />, root);
}
